extension Duration {
    /// The duration in seconds, with fractions (the CLI's rates and the controller's timings alike).
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
