#if canImport(Glibc)
import Glibc
#endif
import CachetManifests
import FoundationEssentials
import Logging
import Synchronization

/// `--log-format json`: one JSON object per line on stderr, with the field names of Go's slog JSON handler that
/// Bitnami's controller uses (`time`, `level`, `msg`), then the metadata. Log aggregators parse it without a pattern.
/// Messages and metadata never carry secret values (the controller logs names and key ids only), so nothing is
/// redacted here.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    /// RFC 3339 in UTC with milliseconds, as slog writes it.
    private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// stderr, or stdout for `--log-info-stdout`'s routine messages.
    let descriptor: Int32

    /// One write per line, in order, from any thread.
    private static let writing = Mutex<Void>(())

    init(label: String, descriptor: Int32 = 2) {
        self.label = label
        self.descriptor = descriptor
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        var fields: [(String, ManifestValue)] = [
            ("time", .string(Self.timeFormat.format(Date()))),
            ("level", .string(Self.levelName(event.level))),
            ("msg", .string(event.message.description)),
            ("logger", .string(label)),
        ]
        if let error = event.error { fields.append(("error", .string(String(describing: error)))) }
        fields += merged.sorted { $0.key < $1.key }.map { ($0.key, Self.value($0.value)) }
        let bytes = ManifestValue.object(fields).jsonBytes + [0x0A]
        Self.writing.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }

    /// slog's names where it has them.
    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "DEBUG"
        case .info, .notice: "INFO"
        case .warning: "WARN"
        case .error, .critical: "ERROR"
        }
    }

    static func value(_ value: Logger.Metadata.Value) -> ManifestValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(Self.value))
        case .dictionary(let entries): .object(entries.sorted { $0.key < $1.key }.map { ($0.key, Self.value($0.value)) })
        }
    }
}

/// `--log-info-stdout`: messages below warning go to one handler (stdout), warnings and errors to the other
/// (stderr), as Bitnami's controller splits them.
struct SplitLogHandler: LogHandler {
    var routine: any LogHandler
    var problems: any LogHandler

    var logLevel: Logger.Level {
        get { routine.logLevel }
        set {
            routine.logLevel = newValue
            problems.logLevel = newValue
        }
    }

    var metadata: Logger.Metadata {
        get { routine.metadata }
        set {
            routine.metadata = newValue
            problems.metadata = newValue
        }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { routine[metadataKey: key] }
        set {
            routine[metadataKey: key] = newValue
            problems[metadataKey: key] = newValue
        }
    }

    func log(event: LogEvent) {
        (event.level >= .warning ? problems : routine).log(event: event)
    }
}
