// The baseline for `cachet seal`'s start-up budget: the smallest swift-argument-parser CLI, built the same way.
import ArgumentParser

@main
struct Trivial: ParsableCommand {
    @Option(help: "A name.") var name = "world"
    func run() { print("hello, \(name)") }
}
