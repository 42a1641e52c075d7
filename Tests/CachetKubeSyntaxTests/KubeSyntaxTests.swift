@testable import CachetKubeSyntax
import Testing

/// Kubernetes' syntax rules, as the API server applies them (k8s.io/apimachinery/pkg/util/validation).
struct KubeSyntaxTests {
    @Test("namespaces are RFC 1123 labels: 1–63 lowercase alphanumerics and '-', alphanumeric at both ends")
    func labels() {
        for good in ["a", "team-a", "0", String(repeating: "a", count: 63)] { #expect(KubeSyntax.isDNSLabel(good), "\(good)") }
        for bad in ["", "-a", "a-", "A", "a.b", "a/b", "a_b", "ä", String(repeating: "a", count: 64)] {
            #expect(!KubeSyntax.isDNSLabel(bad), "\(bad)")
        }
    }

    @Test("object names are RFC 1123 subdomains: labels joined by '.', 253 in all, parts not bounded on their own")
    func subdomains() {
        for good in ["app", "app.v1", "a-b.c-d", String(repeating: "a", count: 100) + ".b", String(repeating: "a", count: 253)] {
            #expect(KubeSyntax.isDNSSubdomain(good), "\(good)")
        }
        for bad in ["", ".", "a..b", ".a", "a.", "A", "a/b", "team-a/app", String(repeating: "a", count: 254)] {
            #expect(!KubeSyntax.isDNSSubdomain(bad), "\(bad)")
        }
    }

    @Test("Secret item keys: 1–253 of -._a-zA-Z0-9, never '.', '..' or anything starting with '..' (they become file names)")
    func itemKeys() {
        for good in ["password", "tls.crt", ".dotfile", "A_B-c.9", String(repeating: "k", count: 253)] { #expect(KubeSyntax.isItemKey(good), "\(good)") }
        for bad in ["", ".", "..", "..data", "../escape", "a/b", "a b", "ключ", String(repeating: "k", count: 254)] {
            #expect(!KubeSyntax.isItemKey(bad), "\(bad)")
        }
    }

    @Test("label keys and values: a qualified name with an optional DNS-subdomain prefix; values empty or a name")
    func labelPairs() {
        #expect(KubeSyntax.labelProblem(key: "app", value: "web") == nil)
        #expect(KubeSyntax.labelProblem(key: "example.com/tier", value: "") == nil)
        #expect(KubeSyntax.labelProblem(key: "Example.com/tier", value: "x")?.contains("prefix") == true)
        #expect(KubeSyntax.labelProblem(key: "/tier", value: "x")?.contains("prefix") == true)
        #expect(KubeSyntax.labelProblem(key: "-tier", value: "x")?.contains("label key") == true)
        #expect(KubeSyntax.labelProblem(key: "tier", value: "a b")?.contains("label value") == true)
        #expect(KubeSyntax.labelProblem(key: "tier", value: String(repeating: "v", count: 64))?.contains("label value") == true)
    }

    @Test("generated names: a prefix is 1–245 of lowercase alphanumerics and '-', starting alphanumeric")
    func namePrefixes() {
        #expect(KubeSyntax.isGenerateNamePrefix("sealed-secrets-key"))
        #expect(KubeSyntax.isGenerateNamePrefix(String(repeating: "k", count: 245)))
        for bad in ["", "-key", "Key", "key.", "key/", String(repeating: "k", count: 246)] {
            #expect(!KubeSyntax.isGenerateNamePrefix(bad), "\(bad)")
        }
    }
}

struct LabelSelectorTests {
    @Test("equality, inequality, set membership and existence, as the API server reads them")
    func matches() throws {
        let selector = try LabelSelector("app=web, tier!=db, env in (prod, staging), !legacy, owner")
        #expect(selector.matches(["app": "web", "env": "prod", "owner": "me"]))
        #expect(!selector.matches(["app": "web", "env": "prod"]), "owner must exist")
        #expect(!selector.matches(["app": "web", "env": "dev", "owner": "me"]))
        #expect(!selector.matches(["app": "web", "env": "prod", "owner": "me", "legacy": ""]))
        #expect(!selector.matches(["app": "web", "env": "prod", "owner": "me", "tier": "db"]))
        #expect(try LabelSelector("env notin (dev)").matches([:]), "notin matches a missing label")
        #expect(try LabelSelector("").matches(["any": "thing"]), "the empty selector matches everything")
    }

    @Test("a selector the API server would refuse is named", arguments: [
        "env on (a)", "app=web=x", "a b", "=x", "env in ()", "-bad!=x", "app=-web", "!", "tier in (a, b c)", "example.com/=x",
    ])
    func problems(selector: String) {
        #expect(KubeSyntax.labelSelectorProblem(selector) != nil, "\(selector)")
    }

    @Test("selectors the API server takes are taken", arguments: ["app=web", "app==web", "app!=", "example.com/tier in (a,b)", "!legacy", "owner", ""])
    func accepted(selector: String) {
        #expect(KubeSyntax.labelSelectorProblem(selector) == nil, "\(selector)")
    }
}
