internal import CYAML

/// YAML output through libyaml's emitter: block style, two-space indent, no line folding, UTF-8, `---` before each
/// object. Strings that a YAML 1.1 reader would type as something else (`"true"`, `"0755"`, `"~"`) are double-quoted,
/// so what is written reads back as the same string in kubectl, kubeseal and Cachet.
enum YAMLWriter {
    /// Collects the emitter's output.
    private final class Sink {
        var bytes: [UInt8] = []
    }

    static func write(_ objects: [ManifestValue], explicitDocumentStart: Bool = true) throws -> [UInt8] {
        var emitter = yaml_emitter_t()
        guard yaml_emitter_initialize(&emitter) == 1 else { throw ManifestError("libyaml's emitter could not be initialised") }
        defer { yaml_emitter_delete(&emitter) }
        let sink = Sink()
        let context = Unmanaged.passUnretained(sink).toOpaque()
        yaml_emitter_set_output(&emitter, { context, buffer, size in
            let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
            sink.bytes.append(contentsOf: UnsafeBufferPointer(start: buffer, count: size))
            return 1
        }, context)
        yaml_emitter_set_unicode(&emitter, 1)
        yaml_emitter_set_width(&emitter, -1)
        yaml_emitter_set_indent(&emitter, 2)

        var event = yaml_event_t()
        func emit(_ made: Int32) throws {
            guard made == 1, yaml_emitter_emit(&emitter, &event) == 1 else {
                let problem = emitter.problem.map { String(cString: $0) } ?? "unknown problem"
                throw ManifestError("libyaml could not write YAML: \(problem)")
            }
        }
        try emit(yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING))
        for object in objects {
            try emit(yaml_document_start_event_initialize(&event, nil, nil, nil, explicitDocumentStart ? 0 : 1))
            // Iterative walk: a stack of pending values and closing events.
            enum Work { case value(ManifestValue), endSequence, endMapping }
            var work: [Work] = [.value(object)]
            while let item = work.popLast() {
                switch item {
                case .endSequence: try emit(yaml_sequence_end_event_initialize(&event))
                case .endMapping: try emit(yaml_mapping_end_event_initialize(&event))
                case .value(let value):
                    switch value {
                    case .null: try scalar("null", style: YAML_PLAIN_SCALAR_STYLE)
                    case .bool(let flag): try scalar(flag ? "true" : "false", style: YAML_PLAIN_SCALAR_STYLE)
                    case .number(let text): try scalar(text, style: YAML_PLAIN_SCALAR_STYLE)
                    case .string(let text):
                        try scalar(text, style: YAMLScalarTypes.needsQuotes(text) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE)
                    case .array(let elements):
                        try emit(yaml_sequence_start_event_initialize(&event, nil, nil, 1, YAML_BLOCK_SEQUENCE_STYLE))
                        work.append(.endSequence)
                        work.append(contentsOf: elements.reversed().map { .value($0) })
                    case .object(let entries):
                        try emit(yaml_mapping_start_event_initialize(&event, nil, nil, 1, YAML_BLOCK_MAPPING_STYLE))
                        work.append(.endMapping)
                        for (key, element) in entries.reversed() {
                            work.append(.value(element))
                            work.append(.value(.string(key)))
                        }
                    }
                }
            }
            try emit(yaml_document_end_event_initialize(&event, 1))
        }
        try emit(yaml_stream_end_event_initialize(&event))
        return sink.bytes

        func scalar(_ text: String, style: yaml_scalar_style_t) throws {
            var bytes = Array(text.utf8)
            let made = bytes.withUnsafeMutableBufferPointer { buffer in
                yaml_scalar_event_initialize(&event, nil, nil, buffer.baseAddress, Int32(buffer.count), 1, 1, style)
            }
            try emit(made)
        }
    }
}
