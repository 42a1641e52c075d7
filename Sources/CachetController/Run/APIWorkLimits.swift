/// What one `/v1/verify` or `/v1/rotate` request, one client and all clients together may cost the controller, in
/// RSA private-key operations (see ``ControllerAPI``).
public struct APIWorkLimits: Sendable {
    /// Items of one SealedSecret (each costs at least one operation).
    public var maxItems = 256
    /// Operations one request may cause, keys tried included; past it, values do not open.
    public var maxOperationsPerRequest = 512
    public var clientOperationsPerSecond = 16.0
    public var clientOperationsBurst = 256.0
    public var totalOperationsPerSecond = 64.0
    public var totalOperationsBurst = 512.0
    /// Requests that may wait for the worker thread.
    public var maxWaiting = 8
    /// The whole body must have arrived by then (a client sending a byte every few seconds is cut off).
    public var bodyDeadline: Duration = .seconds(30)
    /// Bytes of request bodies being received at once, for all clients together (each request reserves its
    /// Content-Length, or the 2 MiB limit without one), and bodies one client may be sending at once: slow bodies
    /// cannot pile up memory (120 trickling 2 MiB bodies from one client once took 340 MB).
    public var maxBodyBytesInFlight = 16 << 20
    public var maxBodiesPerClient = 2

    public init() {}
}
