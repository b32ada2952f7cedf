import Foundation

extension ChatTemplate {
    /// The supported template whose Jinja source `source` is, up to whitespace Jinja does not print;
    /// nil for any other template.
    public static func matching(jinja source: String) -> ChatTemplate? {
        let pieces = JinjaNormalization.pieces(source)
        return allCases.first { JinjaNormalization.pieces($0.canonicalJinja) == pieces }
    }

    /// The template named by a tokenizer_config.json's `chat_template` (a string, or a list of
    /// `{"name", "template"}` of which the one named "default" is used, as transformers does).
    /// Throws, naming the file and asking for `--chat-template NAME`, when the file cannot be read,
    /// has no template, or its template is not one of the supported ones, or its `bos_token` /
    /// `eos_token` differ from the ones the template writes.
    public init(tokenizerConfig url: URL) throws {
        let path = url.path
        func fail(_ reason: String) -> ChatTemplateError {
            ChatTemplateError("\(path): \(reason); choose a template with --chat-template NAME (\(ChatTemplate.names.joined(separator: ", ")))")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail("cannot be read") }
        guard let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw fail("is not a JSON object") }
        let source: String
        switch config["chat_template"] {
        case nil, is NSNull: throw fail("has no \"chat_template\"")
        case let s as String: source = s
        case let list as [Any]:
            let named = list.compactMap { $0 as? [String: Any] }
            guard let entry = named.first(where: { $0["name"] as? String == "default" }), let s = entry["template"] as? String else {
                throw fail("\"chat_template\" is a list without a {\"name\": \"default\", \"template\": ...} entry")
            }
            source = s
        default: throw fail("\"chat_template\" is neither a string nor a list of {\"name\", \"template\"}")
        }
        guard let template = ChatTemplate.matching(jinja: source) else {
            throw fail("its \"chat_template\" is not one of the supported templates")
        }
        for (key, expected) in template.specialTokens {
            // A special token is a string or an AddedToken object {"content": ...}.
            let value = config[key] as? String ?? (config[key] as? [String: Any])?["content"] as? String
            guard value == expected else {
                throw fail("its template is \(template.rawValue)'s, but \"\(key)\" is \(value.map { "\"\($0)\"" } ?? "missing"), not \"\(expected)\"")
            }
        }
        self = template
    }
}
