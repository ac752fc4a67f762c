//! Whisper's tokenizer (GPT-2 byte-level BPE from the repository's `tokenizer.json`) and its special tokens,
//! looked up by name as faster-whisper's `Tokenizer` does (faster-whisper 1.2.1 `tokenizer.py`), so that any
//! Whisper vocabulary works, the test model's tiny one included.

use std::path::Path;

use tokenizers::Tokenizer;

use super::ValidationError;

/// Whisper's tokenizer with its special tokens resolved.
#[derive(Debug, Clone)]
pub struct WhisperTokenizer {
    inner: Tokenizer,
    /// `<|endoftext|>`: every id at or above it is special.
    pub eot: u32,
    /// `<|startoftranscript|>`.
    pub sot: u32,
    /// `<|startofprev|>`: opens the previous-text prompt.
    pub sot_prev: u32,
    /// `<|startoflm|>`.
    pub sot_lm: u32,
    /// `<|transcribe|>`.
    pub transcribe: u32,
    /// `<|translate|>`.
    pub translate: u32,
    /// `<|nospeech|>` (or the older `<|nocaptions|>`).
    pub no_speech: u32,
    /// `<|notimestamps|>`.
    pub no_timestamps: u32,
    /// `(code, token)` of every language token (`<|en|>`, …), in vocabulary order.
    languages: Vec<(String, u32)>,
}

impl WhisperTokenizer {
    pub fn from_file(path: &Path) -> Result<Self, ValidationError> {
        let inner = Tokenizer::from_file(path)
            .map_err(|e| ValidationError::Tokenizer(format!("cannot load {}: {e}", path.display())))?;
        Self::new(inner)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ValidationError> {
        let inner = Tokenizer::from_bytes(bytes).map_err(|e| ValidationError::Tokenizer(e.to_string()))?;
        Self::new(inner)
    }

    fn new(inner: Tokenizer) -> Result<Self, ValidationError> {
        let id = |name: &str| {
            inner.token_to_id(name).ok_or_else(|| {
                ValidationError::Tokenizer(format!("not a Whisper tokenizer: no {name} token"))
            })
        };
        let no_speech = id("<|nospeech|>").or_else(|_| id("<|nocaptions|>"))?;
        let (sot, translate) = (id("<|startoftranscript|>")?, id("<|translate|>")?);
        // Language tokens sit between <|startoftranscript|> and <|translate|>.
        let mut languages: Vec<(String, u32)> = (sot + 1..translate)
            .filter_map(|t| {
                let token = inner.id_to_token(t)?;
                let code = token.strip_prefix("<|")?.strip_suffix("|>")?;
                Some((code.to_string(), t))
            })
            .collect();
        languages.sort_by_key(|(_, t)| *t);
        Ok(Self {
            eot: id("<|endoftext|>")?,
            sot,
            sot_prev: id("<|startofprev|>")?,
            sot_lm: id("<|startoflm|>")?,
            transcribe: id("<|transcribe|>")?,
            translate,
            no_speech,
            no_timestamps: id("<|notimestamps|>")?,
            languages,
            inner,
        })
    }

    /// Language codes this model knows, in token order.
    pub fn language_codes(&self) -> impl Iterator<Item = &str> {
        self.languages.iter().map(|(code, _)| code.as_str())
    }

    /// Every language token.
    pub fn language_tokens(&self) -> Vec<u32> {
        self.languages.iter().map(|&(_, t)| t).collect()
    }

    /// The token of a language code (`en`), if this model knows it.
    pub fn language_token(&self, code: &str) -> Option<u32> {
        self.languages.iter().find(|(c, _)| c == code).map(|&(_, t)| t)
    }

    /// The code of a language token.
    pub fn language_code(&self, token: u32) -> Option<&str> {
        self.languages.iter().find(|&&(_, t)| t == token).map(|(c, _)| c.as_str())
    }

    /// `<|startoftranscript|> <|lang|> <|transcribe|>` (faster-whisper's `sot_sequence`).
    pub fn sot_sequence(&self, language: u32) -> [u32; 3] {
        [self.sot, language, self.transcribe]
    }

    /// Token ids of `text`, no special tokens added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ValidationError> {
        let encoding =
            self.inner.encode(text, false).map_err(|e| ValidationError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of the ordinary tokens among `tokens` (special ones, `>= <|endoftext|>`, are dropped).
    pub fn decode(&self, tokens: &[u32]) -> Result<String, ValidationError> {
        let text: Vec<u32> = tokens.iter().copied().filter(|&t| t < self.eot).collect();
        self.inner.decode(&text, true).map_err(|e| ValidationError::Tokenizer(e.to_string()))
    }

    /// faster-whisper's `non_speech_tokens`: tokens of speaker tags, music notes and brackets, keeping basic
    /// punctuation; `" -"` and `" '"` too (hyphens and quotes only inside words).
    pub fn non_speech_tokens(&self) -> Result<Vec<u32>, ValidationError> {
        const SINGLE: &str = "\"#()*+/:;<=>@[\\]^_`{|}~「」『』";
        const MULTI: &str = "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪";
        // U+2640..U+267F: a multi-token symbol there is suppressed by its first token.
        const MISCELLANEOUS: &str = "♩♪♫♬♭♮♯";
        let mut result = std::collections::BTreeSet::new();
        for lead in [" -", " '"] {
            if let Some(&first) = self.encode(lead)?.first() {
                result.insert(first);
            }
        }
        let symbols = SINGLE
            .chars()
            .map(String::from)
            .chain(MULTI.split(' ').map(String::from))
            .chain(MISCELLANEOUS.chars().map(String::from));
        for symbol in symbols {
            let miscellaneous = symbol.chars().count() == 1 && MISCELLANEOUS.contains(symbol.as_str());
            for tokens in [self.encode(&symbol)?, self.encode(&format!(" {symbol}"))?] {
                if tokens.len() == 1 || (miscellaneous && !tokens.is_empty()) {
                    result.insert(tokens[0]);
                }
            }
        }
        Ok(result.into_iter().collect())
    }

    /// faster-whisper's `get_suppressed_tokens(tokenizer, [-1])`, the reference's `suppress_tokens`: the
    /// non-speech tokens and the task, start and no-speech tokens.
    pub fn suppress_tokens(&self) -> Result<Vec<u32>, ValidationError> {
        let mut tokens = self.non_speech_tokens()?;
        tokens.extend([
            self.transcribe,
            self.translate,
            self.sot,
            self.sot_prev,
            self.sot_lm,
            self.no_speech,
        ]);
        tokens.sort_unstable();
        tokens.dedup();
        Ok(tokens)
    }

    /// faster-whisper's `suppress_blank`: `" "` and `<|endoftext|>` at the first position.
    pub fn blank_tokens(&self) -> Result<Vec<u32>, ValidationError> {
        let mut tokens = self.encode(" ")?;
        tokens.push(self.eot);
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKENIZER: &[u8] = include_bytes!("../../../../tests/fixtures/whisper_tokenizer/tokenizer.json");
    const EXPECTED: &str = include_str!("../../../../tests/fixtures/whisper_tokenizer/expected.json");

    fn ids(v: &serde_json::Value) -> Vec<u32> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
    }

    /// The test tokenizer against faster-whisper's `Tokenizer` (written by `tools/parity/components/whisper.py`).
    #[test]
    fn special_tokens_encode_decode_and_non_speech_match_faster_whisper() {
        let tok = WhisperTokenizer::from_bytes(TOKENIZER).unwrap();
        let want: serde_json::Value = serde_json::from_str(EXPECTED).unwrap();
        let special = &want["special"];
        let got = [
            ("eot", tok.eot),
            ("sot", tok.sot),
            ("sot_prev", tok.sot_prev),
            ("sot_lm", tok.sot_lm),
            ("transcribe", tok.transcribe),
            ("translate", tok.translate),
            ("no_speech", tok.no_speech),
            ("no_timestamps", tok.no_timestamps),
            ("language_en", tok.language_token("en").unwrap()),
        ];
        for (name, id) in got {
            assert_eq!(u64::from(id), special[name].as_u64().unwrap(), "{name}");
        }
        assert_eq!(
            tok.sot_sequence(tok.language_token("en").unwrap()).to_vec(),
            ids(&special["sot_sequence"])
        );
        assert_eq!(tok.language_codes().count(), 99);
        assert_eq!(tok.language_code(tok.language_token("de").unwrap()), Some("de"));
        assert!(tok.language_token("xx").is_none());
        assert_eq!(tok.non_speech_tokens().unwrap(), ids(&want["non_speech_tokens"]));
        for case in want["encode"].as_array().unwrap() {
            assert_eq!(tok.encode(case["text"].as_str().unwrap()).unwrap(), ids(&case["ids"]), "{case}");
        }
        for case in want["decode"].as_array().unwrap() {
            assert_eq!(tok.decode(&ids(&case["ids"])).unwrap(), case["text"].as_str().unwrap(), "{case}");
        }
        let suppress = tok.suppress_tokens().unwrap();
        for t in [tok.transcribe, tok.translate, tok.sot, tok.sot_prev, tok.sot_lm, tok.no_speech] {
            assert!(suppress.contains(&t));
        }
        assert_eq!(tok.blank_tokens().unwrap(), [220, tok.eot]);
    }

    #[test]
    fn a_tokenizer_without_whisper_tokens_is_refused() {
        let gemma = include_bytes!("../../../../tests/fixtures/tokenizer/tokenizer.json");
        let err = WhisperTokenizer::from_bytes(gemma).unwrap_err().to_string();
        assert!(err.contains("not a Whisper tokenizer"), "{err}");
    }
}
