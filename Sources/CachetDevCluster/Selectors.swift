import CachetManifests

/// Why `text` is not a label selector the API server would take, or nil: lets the controller refuse a bad
/// `--label-selector` at start-up instead of failing every watch request.
public func labelSelectorProblem(_ text: String) -> String? {
    do {
        _ = try LabelSelector(text)
        return nil
    } catch {
        return error.message
    }
}

/// A label selector (`app=web,tier!=db,env in (a,b),!legacy,owner`), as the API server parses and applies it.
struct LabelSelector: Sendable {
    enum Requirement: Sendable {
        case equals(String, String)
        case notEquals(String, String)
        case inSet(String, Set<String>)
        case notInSet(String, Set<String>)
        case exists(String)
        case notExists(String)
    }

    let requirements: [Requirement]

    init(_ text: String) throws(APIError) {
        var requirements: [Requirement] = []
        for clause in Self.splitClauses(text) {
            let clause = clause.trimmed
            if clause.isEmpty { continue }
            if let open = clause.firstIndex(of: "("), clause.hasSuffix(")") {
                let head = clause[..<open].trimmed
                let values = Set(clause[clause.index(after: open)..<clause.index(before: clause.endIndex)]
                    .split(separator: ",").map { $0.trimmed })
                if head.hasSuffix(" notin") {
                    requirements.append(.notInSet(String(head.dropLast(6)).trimmed, values))
                } else if head.hasSuffix(" in") {
                    requirements.append(.inSet(String(head.dropLast(3)).trimmed, values))
                } else {
                    throw APIError.badRequest("unable to parse requirement: \(clause)")
                }
            } else if let range = clause.firstRange(of: "!=") {
                requirements.append(.notEquals(clause[..<range.lowerBound].trimmed, clause[range.upperBound...].trimmed))
            } else if let range = clause.firstRange(of: "==") ?? clause.firstRange(of: "=") {
                requirements.append(.equals(clause[..<range.lowerBound].trimmed, clause[range.upperBound...].trimmed))
            } else if clause.hasPrefix("!") {
                requirements.append(.notExists(String(clause.dropFirst()).trimmed))
            } else {
                requirements.append(.exists(clause))
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

    func matches(_ labels: [String: String]) -> Bool {
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

/// A field selector: `metadata.name=x`, `metadata.namespace!=y` (the fields every resource supports).
struct FieldSelector: Sendable {
    let requirements: [(field: String, value: String, equal: Bool)]

    init(_ text: String) throws(APIError) {
        var requirements: [(String, String, Bool)] = []
        for clause in text.split(separator: ",").map({ $0.trimmed }) where !clause.isEmpty {
            let (field, value, equal): (String, String, Bool)
            if let range = clause.firstRange(of: "!=") {
                (field, value, equal) = (clause[..<range.lowerBound].trimmed, clause[range.upperBound...].trimmed, false)
            } else if let range = clause.firstRange(of: "==") ?? clause.firstRange(of: "=") {
                (field, value, equal) = (clause[..<range.lowerBound].trimmed, clause[range.upperBound...].trimmed, true)
            } else {
                throw APIError.badRequest("invalid field selector: \(clause)")
            }
            guard field == "metadata.name" || field == "metadata.namespace" else {
                throw APIError.badRequest("field label not supported: \(field)")
            }
            requirements.append((field, value, equal))
        }
        self.requirements = requirements
    }

    func matches(_ object: ManifestValue) -> Bool {
        requirements.allSatisfy { requirement in
            let actual = object.string(at: requirement.field.split(separator: ".").map(String.init)) ?? ""
            return (actual == requirement.value) == requirement.equal
        }
    }
}

extension StringProtocol {
    var trimmed: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
