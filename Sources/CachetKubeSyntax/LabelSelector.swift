/// A label selector (`app=web,tier!=db,env in (a,b),!legacy,owner`), as the API server parses and applies it.
package struct LabelSelector: Sendable {
    /// Why a selector could not be read, in the API server's words.
    package struct SyntaxError: Error, Sendable {
        package let message: String
    }

    package enum Requirement: Sendable {
        case equals(String, String)
        case notEquals(String, String)
        case inSet(String, Set<String>)
        case notInSet(String, Set<String>)
        case exists(String)
        case notExists(String)
    }

    package let requirements: [Requirement]

    package init(_ text: String) throws(SyntaxError) {
        var requirements: [Requirement] = []
        for clause in Self.splitClauses(text) {
            let clause = clause.trimmed
            if clause.isEmpty { continue }
            // Every key must be a label key and every value a label value, as the API server checks them: a selector
            // it would refuse must be refused here (at the controller's start-up, not at every watch).
            func key(_ text: String) throws(SyntaxError) -> String {
                guard KubeSyntax.isLabelKey(text) else { throw SyntaxError(message: "invalid label key \"\(text)\" in requirement: \(clause)") }
                return text
            }
            func value(_ text: String) throws(SyntaxError) -> String {
                guard KubeSyntax.isLabelValue(text) else { throw SyntaxError(message: "invalid label value \"\(text)\" in requirement: \(clause)") }
                return text
            }
            if let open = clause.firstIndex(of: "("), clause.hasSuffix(")") {
                let head = clause[..<open].trimmed
                let inner = clause[clause.index(after: open)..<clause.index(before: clause.endIndex)]
                guard !inner.trimmed.isEmpty else {
                    throw SyntaxError(message: "for 'in', 'notin' operators, values set can't be empty: \(clause)")
                }
                var values = Set<String>()
                for text in inner.split(separator: ",", omittingEmptySubsequences: false) { values.insert(try value(text.trimmed)) }
                if head.hasSuffix(" notin") {
                    requirements.append(.notInSet(try key(String(head.dropLast(6)).trimmed), values))
                } else if head.hasSuffix(" in") {
                    requirements.append(.inSet(try key(String(head.dropLast(3)).trimmed), values))
                } else {
                    throw SyntaxError(message: "unable to parse requirement: \(clause)")
                }
            } else if let range = clause.firstRange(of: "!=") {
                requirements.append(.notEquals(try key(clause[..<range.lowerBound].trimmed), try value(clause[range.upperBound...].trimmed)))
            } else if let range = clause.firstRange(of: "==") ?? clause.firstRange(of: "=") {
                requirements.append(.equals(try key(clause[..<range.lowerBound].trimmed), try value(clause[range.upperBound...].trimmed)))
            } else if clause.hasPrefix("!") {
                requirements.append(.notExists(try key(String(clause.dropFirst()).trimmed)))
            } else {
                requirements.append(.exists(try key(clause)))
            }
        }
        self.requirements = requirements
    }

    /// Commas inside `( … )` belong to a set, not to the list of requirements.
    private static func splitClauses(_ text: String) -> [String] {
        var clauses: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if character == ",", depth == 0 {
                clauses.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        clauses.append(current)
        return clauses
    }

    package func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value): labels[key] == value
            case .notEquals(let key, let value): labels[key] != value
            case .inSet(let key, let values): labels[key].map(values.contains) ?? false
            case .notInSet(let key, let values): !(labels[key].map(values.contains) ?? false)
            case .exists(let key): labels[key] != nil
            case .notExists(let key): labels[key] == nil
            }
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing whitespace (selectors allow spaces around every part).
    package var trimmed: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
