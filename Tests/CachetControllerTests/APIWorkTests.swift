import CachetCrypto
import CachetManifests
import CachetTransport
import Foundation
import Synchronization
import CachetTestSupport
import Testing
@testable import CachetController

/// How much the decrypting endpoints can make the controller work (issue: one 2 MiB body of ~2,850 items cost 12.5 s
/// of RSA; four such requests starved `/healthz` for 35 s and a new SealedSecret waited 32 s).
@Suite("controller: bounded work on /v1/verify and /v1/rotate")
struct APIWorkTests {
    static func operations(_ harness: ControllerHarness) async throws -> Int {
        let text = String(decoding: try await harness.request(harness.metricsURL + "/metrics").body, as: UTF8.self)
        return text.split(separator: "\n").filter { $0.hasPrefix("cachet_http_rsa_operations_total{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
    }

    @Test("a SealedSecret with more items than a request may open is refused before any RSA work")
    func tooManyItems() async throws {
        try await ControllerHarness.with { harness in
            var items: [String: String] = [:]
            for index in 0..<2_850 { items["k\(index)"] = "v" }
            let body = try ControllerHarness.sealed("many", items: items).jsonBytes
            #expect(body.count < ControllerAPI.maxBodyBytes)
            for path in ["/v1/verify", "/v1/rotate"] {
                let response = try await harness.request(harness.apiURL + path, method: "POST", body: body)
                #expect(response.status == 413 && String(decoding: response.body, as: UTF8.self).contains("too many items"))
            }
            #expect(try await Self.operations(harness) == 0)
        }
    }

    /// Four clients send full-size requests as fast as they are answered. What they can make the controller do is
    /// counted (operations performed never exceed the budget), and meanwhile `/healthz` answers and a new
    /// SealedSecret is reconciled.
    @Test("a flood from several clients stays within the operation budget; health and reconciling go on")
    func flood() async throws {
        try await ControllerHarness.with { harness in
            var items: [String: String] = [:]
            for index in 0..<200 { items["k\(index)"] = "v" }
            let body = try ControllerHarness.sealed("flood", items: items).jsonBytes
            let limits = APIWorkLimits()
            let started = ContinuousClock.now
            let state = FloodState()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<4 {
                    group.addTask {
                        while !state.stop.load(ordering: .relaxed) {
                            let status = (try? await harness.request(harness.apiURL + (client % 2 == 0 ? "/v1/verify" : "/v1/rotate"), method: "POST",
                                                                     body: body, headers: [("X-Forwarded-For", "192.0.2.\(client)")]))?.status ?? -1
                            state.statuses.withLock { $0[status, default: 0] += 1 }
                        }
                    }
                }
                // Under the flood: health answers, and a new SealedSecret becomes its Secret.
                for _ in 0..<5 {
                    #expect(try await harness.request(harness.apiURL + "/healthz").status == 200)
                    #expect(try await harness.request(harness.metricsURL + "/healthz").status == 200)
                }
                _ = try await harness.apply(ControllerHarness.sealed("during-flood"))
                try await eventually("the Secret written during the flood") { await harness.secret("during-flood") != nil }
                try await Task.sleep(for: .seconds(2))
                state.stop.store(true, ordering: .relaxed)
                try await group.waitForAll()
            }
            let elapsed = (ContinuousClock.now - started).seconds
            let performed = try await Self.operations(harness)
            let allowed = limits.totalOperationsBurst + limits.totalOperationsPerSecond * elapsed + Double(limits.maxOperationsPerRequest)
            #expect(Double(performed) <= allowed, "\(performed) operations in \(elapsed) s; the budget allows \(allowed)")
            let answered = state.statuses.withLock { $0 }
            #expect(answered[429, default: 0] > 0, "the flood was never slowed: \(answered)")
            #expect(answered[200, default: 0] > 0, "nothing was served: \(answered)")
            #expect(Set(answered.keys).isSubset(of: [200, 429]), "\(answered)")
        }
    }

    /// A body sent a byte at a time held its connection (1 byte per 9 s stayed open past 170 s).
    @Test("a request body that does not arrive in time is cut off with 408")
    func slowBody() async throws {
        try await ControllerHarness.with(configure: { $0.apiWork.bodyDeadline = .seconds(1) }) { harness in
            let port = try #require(Int(harness.apiURL.split(separator: ":").last ?? ""))
            // On a thread of its own: blocking one of the few cooperative threads would stall every in-process server.
            let answer = try await withCheckedThrowingContinuation { continuation in
                Thread {
                    continuation.resume(with: Result { try SlowClient.post(port: port, declaredLength: 100, bytesEvery: .milliseconds(300), count: 20) })
                }.start()
            }
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
        }
    }
}

final class FloodState: Sendable {
    let stop = Atomic<Bool>(false)
    let statuses = Mutex<[Int: Int]>([:])
}

/// Sends a POST head, then its body a byte at a time; returns what the server answered (or "" if nothing).
enum SlowClient {
    static func post(port: Int, declaredLength: Int, bytesEvery pause: Duration, count: Int) throws -> String {
        guard let descriptor = LoopbackSockets.connect(port: port) else { throw CocoaError(.fileReadUnknown) }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 0, tv_usec: Int(pause.components.attoseconds / 1_000_000_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let head = "POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(declaredLength)\r\n\r\n"
        _ = head.withCString { send(descriptor, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var answer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<count {
            var byte = UInt8(ascii: " ")
            guard send(descriptor, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 else { break }  // the server may have answered and closed
            let received = recv(descriptor, &answer, answer.count, 0)  // waits `pause` at most
            if received > 0 { return String(decoding: answer.prefix(received), as: UTF8.self) }
            if received == 0 { break }
        }
        // Whatever the server sent before closing (or sends now), given time on a loaded machine.
        var longer = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &longer, socklen_t(MemoryLayout<timeval>.size))
        let received = recv(descriptor, &answer, answer.count, 0)
        return received > 0 ? String(decoding: answer.prefix(received), as: UTF8.self) : ""
    }
}

/// Found attacking the bounds above (issue 10 follow-up).
@Suite("controller: bounded memory and bookkeeping on /v1/verify and /v1/rotate")
struct APIMemoryTests {
    /// Each trickling body could hold 2 MiB for 30 s, and the request rate let one client keep ~120 open (340 MB).
    @Test("a client may be sending two bodies at once; a third is refused at once")
    func bodiesPerClient() async throws {
        try await ControllerHarness.with { harness in
            let port = try #require(Int(harness.apiURL.split(separator: ":").last ?? ""))
            let answers = try await withCheckedThrowingContinuation { continuation in
                Thread {
                    continuation.resume(with: Result {
                        var open: [Int32] = []
                        defer { open.forEach { close($0) } }
                        var answers: [String] = []
                        for index in 0..<3 {
                            guard let descriptor = LoopbackSockets.connect(port: port) else { throw CocoaError(.fileReadUnknown) }
                            open.append(descriptor)
                            let head = "POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                            _ = head.withCString { send(descriptor, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                            // The first two must not be answered (2 s shows it); the third's 429 may take a while to
                            // come on a loaded machine, but far less than the 30 s the server gives a body.
                            var timeout = timeval(tv_sec: index < 2 ? 2 : 15, tv_usec: 0)
                            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                            var buffer = [UInt8](repeating: 0, count: 1024)
                            let received = recv(descriptor, &buffer, buffer.count, 0)
                            answers.append(received > 0 ? String(decoding: buffer.prefix(received), as: UTF8.self) : "")
                        }
                        return answers
                    })
                }.start()
            }
            #expect(answers[0].isEmpty && answers[1].isEmpty, "the first two wait for their bodies: \(answers)")
            #expect(answers[2].hasPrefix("HTTP/1.1 429"), "\(answers)")
        }
    }

    /// Every new forged address made the limiter scan all 65,536 buckets under its lock.
    @Test("the rate limiter keeps a bounded number of clients, dropping the least recently used")
    func limiterBound() {
        let limiter = RateLimiter(rate: 0.001, burst: 1, maxClients: 100)
        #expect(limiter.allow("regular"))
        for index in 0..<20_000 {
            _ = limiter.allow("forged-\(index)")
            if index % 50 == 0 { _ = limiter.allow("regular") }  // used recently, so kept: its empty bucket stays empty
        }
        #expect(limiter.clientCount <= 100)
        #expect(!limiter.allow("regular"), "a recently used client lost its bucket")
        #expect(limiter.allow("forged-0"), "the least recently used was not the one dropped")
    }

    @Test("the rate limiter's bookkeeping stays bounded when one client is used over and over behind an older one")
    func limiterBookkeepingBound() {
        let limiter = RateLimiter(rate: 1000, burst: 1000, maxClients: 100)
        _ = limiter.allow("old")
        for _ in 0..<100_000 { _ = limiter.allow("busy") }
        #expect(limiter.clientCount == 2)
        #expect(limiter.useEntryCount <= 2 * 2 + 1024 + 1, "stale entries piled up: \(limiter.useEntryCount)")
    }
}

/// The client a request is counted against.
struct ClientAddressTests {
    @Test("X-Forwarded-For counts only when its last entry is an IP address; anything else is the peer's")
    func addresses() {
        for good in ["192.0.2.7", "::1", "2001:db8::5", "0.0.0.0"] { #expect(ControllerAPI.isIPAddress(good), "\(good)") }
        for bad in ["", "forged", "192.0.2.7:80", "192.0.2.256", String(repeating: "a", count: 4096), "::1%eth0x", "1.2.3.4.5"] {
            #expect(!ControllerAPI.isIPAddress(bad), "\(bad.prefix(20))")
        }
    }
}
