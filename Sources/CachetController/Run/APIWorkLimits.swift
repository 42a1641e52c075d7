/// What one `/v1/verify` or `/v1/rotate` request, one client and all clients together may cost the controller, in
/// RSA private-key operations (see ``ControllerAPI``).
package struct APIWorkLimits: Sendable {
    /// Items of one SealedSecret (each costs at least one operation).
    package var maxItems = 256
    /// Operations one request may cause, keys tried included; past it, values do not open.
    package var maxOperationsPerRequest = 512
    package var clientOperationsPerSecond = 16.0
    package var clientOperationsBurst = 256.0
    package var totalOperationsPerSecond = 64.0
    package var totalOperationsBurst = 512.0
    /// Requests that may wait for the worker thread.
    package var maxWaiting = 8
    /// The whole body must have arrived by then (a client sending a byte every few seconds is cut off).
    package var bodyDeadline: Duration = .seconds(30)
    /// Bytes of request bodies being received at once, for all clients together (each request reserves its
    /// Content-Length, or the 2 MiB limit without one), and bodies one client may be sending at once: slow bodies
    /// cannot pile up memory (120 trickling 2 MiB bodies from one client once took 340 MB).
    package var maxBodyBytesInFlight = 16 << 20
    package var maxBodiesPerClient = 2

    package init() {}
}
