import ArgumentParser
import Foundation
import Testing
@testable import CachetCLI

/// `cachet seal`'s quick parser must never disagree with argument-parser: wherever it answers, argument-parser
/// gives the same values (or both refuse at validation); everything else it leaves to argument-parser.
struct SealQuickParserTests {
    /// argument-parser's reading of `arguments` (validation included), or nil if it refuses them.
    static func full(_ arguments: [String]) -> SealValues? {
        (try? SealCommand.parseAsRoot(arguments) as? SealCommand)?.values
    }

    static func check(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        guard let quick = SealValues(quickParsing: arguments) else { return }
        let validated = (try? quick.validate()) != nil
        let full = Self.full(arguments)
        if validated {
            #expect(full == quick, "\(arguments)", sourceLocation: sourceLocation)
        } else {
            #expect(full == nil, "\(arguments): argument-parser accepts what fails validation", sourceLocation: sourceLocation)
        }
    }

    @Test("the plain forms are read, and read as argument-parser reads them")
    func plainForms() throws {
        let cases: [[String]] = [
            ["--cert", "keys/tls.crt", "-f", "secret.yaml", "-w", "out.yaml"],
            ["--cert=keys/tls.crt", "--file=secret.yaml", "--sealed-secret-file=out.json", "-o", "yaml"],
            ["--secret-file", "s.yaml", "--format", "json", "--keep-annotation", "a/", "--keep-annotation=b/", "--allow-empty-data"],
            ["--raw", "--scope", "cluster-wide", "--from-file", "key=path"],
            ["--raw", "-n", "team-a", "--name", "app", "--cert", "https://example.com/v1/cert.pem", "--cert-ca", "ca.pem"],
            ["--controller-name", "c", "--controller-namespace", "ns", "--kubeconfig", "k", "--context", "ctx", "-f", "x"],
            ["--controller-url", "http://127.0.0.1:8080", "--controller-ca", "ca", "--merge-into", "file.yaml", "-f", "s"],
            ["--scope=namespace-wide", "--namespace=team-a", "--cert", "c"],
            ["--cert", "a=b", "--name", "name-with-dash"],
            [],
        ]
        for arguments in cases {
            #expect(SealValues(quickParsing: arguments) != nil, "\(arguments)")
            Self.check(arguments)
        }
    }

    @Test("anything else is left to argument-parser")
    func leftToArgumentParser() {
        let cases: [[String]] = [
            ["--help"], ["-h"], ["--version"], ["--bogus"], ["positional"], ["--cert"], ["--cert", "-"], ["--cert", "--raw"],
            ["--cert", "a", "--cert", "b"], ["--raw", "--raw"], ["--raw=true"], ["--scope", "everywhere"], ["-o", "xml"],
            ["-fsecret.yaml"], ["-f=secret.yaml"], ["--", "x"], ["-n", "a", "--namespace", "b"], ["--file", "a", "-f", "b"],
        ]
        for arguments in cases {
            #expect(SealValues(quickParsing: arguments) == nil, "\(arguments)")
        }
    }

    @Test("random argument lists: the quick parser agrees with argument-parser wherever it answers")
    func randomLists() {
        let options = Array(SealValues.quickOptions.keys).sorted() + ["--raw", "--allow-empty-data", "--bogus", "-x"]
        let values = ["v", "", "-", "a=b", "team-a", "json", "yaml", "strict", "cluster-wide", "namespace-wide", "--raw",
                      "x y", "out.yaml", "ns"]
        var generator = SplitMix64(seed: 0x5EA1)
        var answered = 0
        for _ in 0..<2000 {
            var arguments: [String] = []
            for _ in 0..<Int.random(in: 0...6, using: &generator) {
                let option = options.randomElement(using: &generator)!
                let value = values.randomElement(using: &generator)!
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: arguments.append(option)
                case 1: arguments += [option, value]
                case 2: arguments.append(option + "=" + value)
                default: arguments += [option, value, value]
                }
            }
            if SealValues(quickParsing: arguments) != nil { answered += 1 }
            Self.check(arguments)
        }
        // The comparison must actually have happened often enough to mean something.
        #expect(answered > 200, "only \(answered) random lists were read by the quick parser")
    }

    @Test("every option SealCommand declares is known to the quick parser")
    func everyOptionKnown() {
        let help = SealCommand.helpMessage(columns: 400)
        let declared = Set(help.split(whereSeparator: { " ,\n/()[]:.".contains($0) }).map(String.init).filter { token in
            token.firstMatch(of: /^--?[a-z][a-z-]*$/) != nil
        }).subtracting(["-h", "--help", "--version"])
        let known = Set(SealValues.quickOptions.keys).union(["--raw", "--allow-empty-data"])
        #expect(declared.subtracting(known).isEmpty, "options only argument-parser knows: \(declared.subtracting(known).sorted())")
        #expect(known.subtracting(declared).isEmpty, "options SealCommand does not declare: \(known.subtracting(declared).sorted())")
    }
}

/// A small seedable generator, so the random lists are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
