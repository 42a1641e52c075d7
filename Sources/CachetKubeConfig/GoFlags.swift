/// How Go command lines read flags (the `flag` and `pflag` packages), for the commands that keep a Go tool's flags so
/// that scripts run unchanged: Bitnami's controller (`cachet-controller run`) and kubeseal (`cachet kubeseal`).
package enum GoFlags {
    /// Rewrites a bare boolean option (no `true`/`false` follows) into `--option=true`, so that a parser which gives
    /// booleans a value reads Go's `--raw`, `--raw=true` and `--raw=false` alike.
    package static func normalizingBooleans(_ arguments: [String], booleans: Set<String>) -> [String] {
        arguments.enumerated().map { index, argument in
            guard booleans.contains(argument) else { return argument }
            let next = arguments.indices.contains(index + 1) ? arguments[index + 1] : nil
            return next == "true" || next == "false" ? argument : argument + "=true"
        }
    }

    /// The variable that sets a flag when the command line does not: `prefix_FLAG_NAME` (`--controller-name` is
    /// `SEALED_SECRETS_CONTROLLER_NAME`), as Bitnami's `flagenv` and `pflagenv` read them.
    package static func variable(prefix: String, flag: String) -> String {
        prefix + "_" + String(flag.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Go's `strconv.ParseBool`.
    package static func boolean(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": true
        case "0", "f", "F", "false", "FALSE", "False": false
        default: nil
        }
    }
}
