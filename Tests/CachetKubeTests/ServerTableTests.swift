import CachetManifests
import Foundation
import Testing
@testable import CachetDevCluster

/// The pieces of the dev cluster's server-side printing that kubectl's output does not show directly.
struct ServerTableTests {
    @Test("ages read as kubectl shows them")
    func ages() {
        let cases: [(TimeInterval, String)] = [
            (-5, "<invalid>"), (-0.5, "0s"), (0, "0s"), (119, "119s"), (120, "2m"), (200, "3m20s"), (599, "9m59s"),
            (600, "10m"), (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (5 * 3600 + 120, "5h2m"), (47 * 3600, "47h"),
            (48 * 3600, "2d"), (50 * 3600, "2d2h"), (8 * 86400, "8d"), (700 * 86400, "700d"), (800 * 86400, "2y70d"),
            (9 * 365 * 86400, "9y"),
        ]
        for (interval, expected) in cases {
            #expect(ServerTable.humanDuration(interval) == expected, "\(interval) s")
        }
    }

    @Test("printer-column paths: fields, list indices, and anything missing is no value")
    func paths() throws {
        let object = try ManifestValue(json: Array(#"{"status": {"conditions": [{"status": "True"}, {"status": "False"}]}, "a": {"b": 1}}"#.utf8))
        #expect(ServerTable.evaluate(".status.conditions[0].status", in: object) == .string("True"))
        #expect(ServerTable.evaluate(".status.conditions[1].status", in: object) == .string("False"))
        #expect(ServerTable.evaluate(".status.conditions[2].status", in: object) == nil)
        #expect(ServerTable.evaluate(".a.b", in: object) == .number("1"))
        #expect(ServerTable.evaluate(".a.c", in: object) == nil)
        #expect(ServerTable.evaluate(".a.b.c", in: object) == nil)
    }

    @Test("only a Table Accept header asks for a table, in the version it names first")
    func accept() {
        #expect(ServerTable.requestedVersion(accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json") == "v1")
        #expect(ServerTable.requestedVersion(accept: "application/json;as=Table;v=v1beta1;g=meta.k8s.io") == "v1beta1")
        #expect(ServerTable.requestedVersion(accept: "application/json") == nil)
        #expect(ServerTable.requestedVersion(accept: "application/json;as=Table;v=v2;g=meta.k8s.io") == nil)
        #expect(ServerTable.requestedVersion(accept: nil) == nil)
    }
}
