import ArgumentParser
import CachetCrypto

extension SealingScope.Kind: ExpressibleByArgument {}

/// `--scope`, `-n/--namespace` and `--name`, shared by every command that seals or opens a single value.
struct ScopeOptions: ParsableArguments {
    @Option(help: "Where the value may be opened: strict (this namespace and name), namespace-wide, or cluster-wide.")
    var scope: SealingScope.Kind = .strict

    @Option(name: [.customShort("n"), .customLong("namespace")],
            help: "The namespace of the SealedSecret (needed by strict and namespace-wide).")
    var namespace: String?

    @Option(help: "The name of the SealedSecret (needed by strict).")
    var name: String?

    func validate() throws {
        do {
            try sealingScope.validate()
        } catch let error as CachetCryptoError {
            throw ValidationError(error.message)
        }
    }

    /// The scope the flags describe. Unlike kubeseal there is no fallback to a kubeconfig namespace or "default":
    /// sealing for a namespace the user did not name is how values end up unopenable.
    var sealingScope: SealingScope {
        get throws {
            switch scope {
            case .strict:
                guard let namespace, let name else {
                    throw ValidationError("--scope strict needs both -n/--namespace and --name")
                }
                return .strict(namespace: namespace, name: name)
            case .namespaceWide:
                guard let namespace else { throw ValidationError("--scope namespace-wide needs -n/--namespace") }
                return .namespaceWide(namespace: namespace)
            case .clusterWide:
                return .clusterWide
            }
        }
    }
}
