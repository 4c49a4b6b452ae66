package translate

import "github.com/tidwall/gjson"

// Gemini's OpenAI-compatible endpoint reads tool parameters as the
// OpenAPI 3.0 schema subset of Gemini function declarations and answers
// 400 for the JSON-schema keywords outside it (llmgateway#1763,
// gemini-proxy#1; 1RGS's clean_gemini_schema and pydantic-ai's Google
// transformer strip the same ones). appendGeminiSchema writes a schema
// without them, recursively, keeping its meaning where it can:
//
//   - `const: "x"` becomes `enum: ["x"]` (Gemini takes single-value enums);
//   - `type: ["string", "null"]` becomes `type: "string", nullable: true`;
//   - a `format` Gemini does not know (anything but date-time and enum
//     on strings, int32/int64/float/double on numbers) is dropped.
//
// Property names are never filtered: a property may be called "format"
// or "const".
var geminiDropped = map[string]bool{
	"$schema": true, "$id": true, "$comment": true,
	"additionalProperties": true, "unevaluatedProperties": true,
	"propertyNames": true, "patternProperties": true,
	"exclusiveMinimum": true, "exclusiveMaximum": true,
	"dependentRequired": true, "dependentSchemas": true,
	"if": true, "then": true, "else": true,
	"contentEncoding": true, "contentMediaType": true,
	"examples": true, "additionalItems": true, "unevaluatedItems": true,
}

var geminiFormats = map[string]bool{
	"date-time": true, "enum": true, "int32": true, "int64": true, "float": true, "double": true,
}

// maxSchemaDepth bounds the recursion; deeper parts are copied as they
// are (the request layer bounds the body's nesting anyway).
const maxSchemaDepth = 64

func appendGeminiSchema(b []byte, s gjson.Result, depth int) []byte {
	if !s.IsObject() || depth > maxSchemaDepth {
		return append(b, s.Raw...)
	}
	b = append(b, '{')
	each(s, func(k, v gjson.Result) bool {
		key := k.Str
		switch {
		case geminiDropped[key]:
		case key == "const":
			if v.Type == gjson.String {
				b = appendKey(b, "enum")
				b = append(b, '[')
				b = appendStringValue(b, v)
				b = append(b, ']')
			}
		case key == "format":
			if v.Type == gjson.String && geminiFormats[v.Str] {
				b = appendKey(b, "format")
				b = appendStringValue(b, v)
			}
		case key == "type" && v.IsArray():
			nullable, first := false, gjson.Result{}
			each(v, func(_, t gjson.Result) bool {
				if t.Str == "null" {
					nullable = true
				} else if !first.Exists() {
					first = t
				}
				return true
			})
			if first.Exists() {
				b = appendKey(b, "type")
				b = appendStringValue(b, first)
			}
			if nullable {
				b = appendKey(b, "nullable")
				b = append(b, "true"...)
			}
		case key == "properties" || key == "$defs" || key == "definitions":
			b = appendKey(b, key)
			if !v.IsObject() {
				b = append(b, v.Raw...)
				break
			}
			b = append(b, '{')
			first := true
			each(v, func(name, sub gjson.Result) bool {
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendStringValue(b, name)
				b = append(b, ':')
				b = appendGeminiSchema(b, sub, depth+1)
				return true
			})
			b = append(b, '}')
		case key == "items" || key == "not" || key == "contains" ||
			key == "anyOf" || key == "oneOf" || key == "allOf" || key == "prefixItems":
			b = appendKey(b, key)
			if v.IsArray() {
				b = append(b, '[')
				first := true
				each(v, func(_, sub gjson.Result) bool {
					if !first {
						b = append(b, ',')
					}
					first = false
					b = appendGeminiSchema(b, sub, depth+1)
					return true
				})
				b = append(b, ']')
			} else {
				b = appendGeminiSchema(b, v, depth+1)
			}
		default:
			if b[len(b)-1] != '{' {
				b = append(b, ',')
			}
			b = appendStringValue(b, k)
			b = append(b, ':')
			b = append(b, v.Raw...)
		}
		return true
	})
	return append(b, '}')
}
