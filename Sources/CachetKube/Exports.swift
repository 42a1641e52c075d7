// The client's vocabulary (configuration, errors, resource types) lives in CachetKubeConfig, which has no networking
// of its own, so that the `cachet` CLI can share it without linking this module's async-http-client and SwiftNIO.
@_exported import CachetKubeConfig
