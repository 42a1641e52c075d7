import CachetKubeSyntax
import CachetManifests

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
