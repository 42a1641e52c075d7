import CachetManifests

/// List, then watch, forever: the controller's view of one resource type.
///
/// A 410 Gone (the resourceVersion fell out of the server's history) means events were missed, so the watcher lists
/// again and reports the fresh snapshot; any other interruption (a dropped connection, the server's timeout, a 5xx)
/// resumes the watch from the last resourceVersion seen, after a backoff that doubles up to `maxBackoff` and resets
/// once events flow again. It ends only when the task is cancelled.
package struct ResourceWatcher: AsyncSequence, Sendable {
    package enum Change: Sendable {
        /// A full snapshot (at start, and after every relist). Anything not in it no longer exists.
        case listed([ManifestValue], resourceVersion: String)
        /// One change after the snapshot.
        case event(WatchEvent)
    }
    package typealias Element = Change

    package let client: KubeClient
    package let type: ResourceType
    package var namespace: String?
    package var labelSelector: String?
    package var initialBackoff: Duration = .milliseconds(100)
    package var maxBackoff: Duration = .seconds(30)
    /// Server-side timeout of each watch request; the watcher reconnects after it.
    package var watchTimeoutSeconds = 300

    package init(client: KubeClient, type: ResourceType, namespace: String? = nil, labelSelector: String? = nil) {
        self.client = client
        self.type = type
        self.namespace = namespace
        self.labelSelector = labelSelector
    }

    package func makeAsyncIterator() -> Iterator {
        Iterator(watcher: self)
    }

    package struct Iterator: AsyncIteratorProtocol {
        let watcher: ResourceWatcher
        var resourceVersion: String?
        var events: WatchEvents.Iterator?
        /// Reset whenever events flow again.
        var backoff: Backoff

        init(watcher: ResourceWatcher) {
            self.watcher = watcher
            self.backoff = Backoff(initial: watcher.initialBackoff, maximum: watcher.maxBackoff)
        }

        package mutating func next() async throws -> Change? {
            while !Task.isCancelled {
                do {
                    guard let version = resourceVersion else {
                        let list = try await watcher.client.listAll(watcher.type, namespace: watcher.namespace,
                                                                     labelSelector: watcher.labelSelector)
                        resourceVersion = list.resourceVersion
                        events = nil
                        succeeded()
                        return .listed(list.items, resourceVersion: list.resourceVersion)
                    }
                    if events == nil {
                        events = watcher.client.watch(watcher.type, namespace: watcher.namespace, resourceVersion: version,
                                                      labelSelector: watcher.labelSelector,
                                                      timeoutSeconds: watcher.watchTimeoutSeconds).makeAsyncIterator()
                    }
                    guard let event = try await events!.next() else {
                        events = nil  // the server ended the watch (its timeout): resume at once
                        continue
                    }
                    if let version = event.resourceVersion { resourceVersion = version }
                    succeeded()
                    if event.kind == .bookmark { continue }
                    return .event(event)
                } catch let error as KubeError where error.code == .gone || error.isTooLargeResourceVersion {
                    // Missed events, or a version the server never reached (its state went back): list again.
                    resourceVersion = nil
                    events = nil
                } catch is CancellationError {
                    return nil
                } catch {
                    events = nil
                    try? await Task.sleep(for: backoff.next())
                }
            }
            return nil
        }

        private mutating func succeeded() {
            backoff.reset()
        }
    }
}
