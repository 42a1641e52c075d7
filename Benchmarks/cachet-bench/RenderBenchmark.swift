@_spi(Benchmarks) import CachetCrypto
import CachetController
import CachetManifests
import Foundation

/// Render of N SealedSecrets × 3 values sealed to an RSA-4096 key, with one thread and with all cores, against the
/// bare OpenSSL RSA-4096 private operation rate measured in the same run.
enum RenderBenchmark {
    static func run(_ arguments: [String]) throws {
        var objects = 1000
        var keyPath: String?
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--objects": objects = iterator.next().flatMap(Int.init) ?? objects
            case "--key": keyPath = iterator.next()
            default: break
            }
        }
        let key = try keyPath.map { try RSAPrivateKey(pem: SecureBytes(copying: try Data(contentsOf: URL(fileURLWithPath: $0)))) }
            ?? RSAPrivateKey.generate(bits: 4096)
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let stream = try makeStream(objects: objects, key: key)
        print("render: \(objects) SealedSecrets × 3 values, RSA-\(key.bits) (id \(key.keyID)), \(stream.count) bytes; \(cores) cores")

        // The bare rate: one thread, the same key, OAEP with a label, the same kind of ciphertext.
        let scope = SealingScope.strict(namespace: "bench", name: "s0")
        let wrapped = try BareOpenSSL.wrappedKey(of: try EnvelopeV1.seal([1, 2, 3], to: key.publicKey, scope: scope))
        let bareIterations = 200
        try BareOpenSSL.runOAEPDecrypt(wrapped, key: key, label: scope.label, iterations: 10)
        let bareStart = DispatchTime.now().uptimeNanoseconds
        try BareOpenSSL.runOAEPDecrypt(wrapped, key: key, label: scope.label, iterations: bareIterations)
        let bareRate = Double(bareIterations) / (Double(DispatchTime.now().uptimeNanoseconds - bareStart) / 1e9)

        var rates: [Int: Double] = [:]
        for jobs in Array(Set([1, 2, cores])).sorted() {
            let renderer = Renderer(unsealer: Unsealer(keyRing: KeyRing(keys: [key])), jobs: jobs)
            let start = DispatchTime.now().uptimeNanoseconds
            let output = try renderer.render([Renderer.Input(name: "bench", bytes: stream)])
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            precondition(output.count > 0)
            rates[jobs] = Double(objects * 3) / seconds
            print(String(format: "  %d thread(s): %8.1f values/s (%.2f s)", jobs, rates[jobs]!, seconds))
        }
        print(String(format: "  bare OpenSSL RSA-%d OAEP decrypt, 1 thread: %8.1f ops/s", key.bits, bareRate))
        print(String(format: "  per core: %.3f of the bare rate (target ≥ 0.90)", rates[1]! / bareRate))
        if let two = rates[2] {
            print(String(format: "  1 → 2 threads: %.2f× (target ≥ 1.8×)", two / rates[1]!))
        }
    }

    static func makeStream(objects: Int, key: RSAPrivateKey) throws -> [UInt8] {
        var sealer = Sealer(sealingKey: try SealingKey(pem: Array(try Certificate.selfSigned(for: key).pem.utf8)))
        sealer.scope = nil
        var values: [ManifestValue] = []
        for index in 0..<objects {
            let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s\(index), namespace: bench}\n"
                + "stringData: {username: user-\(index), password: pass-\(index)-0123456789, token: tok-\(index)-abcdefghij}\n"
            let object = try ManifestReader.objects(in: ManifestReader.documents(in: Array(text.utf8)))[0]
            values.append(try sealer.seal(SecretManifest(object)).sealedSecret.manifestValue)
        }
        return try ManifestFormat.yaml.write(values)
    }
}
