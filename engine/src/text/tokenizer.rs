//! Gemma tokenisation exactly as the reference text path does it.
//!
//! Reference: ltx_core `text_encoders/gemma/tokenizer.py` (`LTXVGemmaTokenizer.tokenize_with_weights`) over
//! HF `GemmaTokenizerFast` (transformers 4.57.6), ltx-audio-spec §2.2: `prompt.strip()`, no chat template,
//! a leading `<bos>` and no `<eos>`, truncation on the right to `max_length` (the `<bos>` stays), then left
//! padding with `<pad>` to exactly `max_length`.

use std::path::Path;

use tokenizers::Tokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::utils::padding::{PaddingDirection, PaddingParams, PaddingStrategy};
use tokenizers::utils::truncation::{TruncationDirection, TruncationParams, TruncationStrategy};

use super::TextError;

/// Token length of the canonical reference paths (bf16 GPU-resident and CPU streaming Gemma,
/// `module_ops_from_gemma_root` builds `LTXVGemmaTokenizer(root, 1024)`).
pub const REFERENCE_MAX_LENGTH: usize = 1024;

/// Token length of the reference's NF4 path, which builds `LTXVGemmaTokenizer(root)` with its default of 256
/// (ltx-audio-spec §2.2 discrepancy). Only for matching NF4 outputs; the connector then sees another layout.
pub const NF4_REFERENCE_MAX_LENGTH: usize = 256;

/// Token ids and attention mask of one prompt, both `max_length` long, valid tokens at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedPrompt {
    pub input_ids: Vec<u32>,
    /// 1 for real tokens, 0 for left padding.
    pub attention_mask: Vec<u32>,
}

impl TokenizedPrompt {
    /// Number of real tokens (including `<bos>`).
    pub fn valid_len(&self) -> usize {
        self.attention_mask.iter().filter(|&&m| m == 1).count()
    }

    /// Number of leading pad tokens.
    pub fn pad_len(&self) -> usize {
        self.input_ids.len() - self.valid_len()
    }
}

/// A `tokenizer.json` set up as the reference's tokeniser.
#[derive(Clone)]
pub struct GemmaTokenizer {
    inner: Tokenizer,
    max_length: usize,
    bos_id: u32,
    pad_id: u32,
}

impl std::fmt::Debug for GemmaTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GemmaTokenizer")
            .field("vocab_size", &self.inner.get_vocab_size(true))
            .field("max_length", &self.max_length)
            .field("bos_id", &self.bos_id)
            .field("pad_id", &self.pad_id)
            .finish()
    }
}

impl GemmaTokenizer {
    /// Load `tokenizer.json` (of google/gemma-3-12b-it, or any tokenizer with `<bos>` and `<pad>`).
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self, TextError> {
        let inner = Tokenizer::from_file(path)
            .map_err(|e| TextError::Tokenizer { path: path.to_path_buf(), message: e.to_string() })?;
        Self::new(inner, max_length).map_err(|e| e.at(path))
    }

    /// From the bytes of a `tokenizer.json`.
    pub fn from_bytes(json: &[u8], max_length: usize) -> Result<Self, TextError> {
        let inner = Tokenizer::from_bytes(json)
            .map_err(|e| TextError::Tokenizer { path: Default::default(), message: e.to_string() })?;
        Self::new(inner, max_length)
    }

    fn new(mut inner: Tokenizer, max_length: usize) -> Result<Self, TextError> {
        if max_length == 0 {
            return Err(TextError::InvalidLength);
        }
        let id =
            |token: &str| inner.token_to_id(token).ok_or_else(|| TextError::MissingToken(token.to_string()));
        let (bos_id, pad_id) = (id("<bos>")?, id("<pad>")?);
        let fail =
            |e: tokenizers::Error| TextError::Tokenizer { path: Default::default(), message: e.to_string() };
        // HF's GemmaTokenizerFast rebuilds the post-processor from `add_bos_token = true`,
        // `add_eos_token = false` (gemma-3's tokenizer_config.json) whatever tokenizer.json says; so do we.
        let template = TemplateProcessing::builder()
            .try_single("<bos>:0 $A:0")
            .and_then(|b| b.try_pair("<bos>:0 $A:0 <bos>:1 $B:1"))
            .map_err(|e| fail(e.into()))?
            .special_tokens(vec![("<bos>".to_string(), bos_id)])
            .build()
            .map_err(|e| fail(e.into()))?;
        inner.with_post_processor(Some(template));
        inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(fail)?;
        inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(max_length),
            direction: PaddingDirection::Left,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token: "<pad>".to_string(),
        }));
        Ok(Self { inner, max_length, bos_id, pad_id })
    }

    pub fn max_length(&self) -> usize {
        self.max_length
    }

    pub fn bos_id(&self) -> u32 {
        self.bos_id
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Tokenise one prompt as `tokenize_with_weights` does.
    pub fn encode(&self, prompt: &str) -> Result<TokenizedPrompt, TextError> {
        let encoding = self
            .inner
            .encode(python_strip(prompt), true)
            .map_err(|e| TextError::Tokenizer { path: Default::default(), message: e.to_string() })?;
        Ok(TokenizedPrompt {
            input_ids: encoding.get_ids().to_vec(),
            attention_mask: encoding.get_attention_mask().to_vec(),
        })
    }
}

/// Python's `str.strip()`: strips Unicode whitespace plus the separators U+001C..U+001F, which Python's
/// `isspace` counts and Rust's `trim` does not.
pub fn python_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_matches_python() {
        assert_eq!(python_strip("\u{1c} a b \u{a0}\u{3000}\n"), "a b");
        assert_eq!(python_strip("\u{200b}x"), "\u{200b}x"); // zero-width space is not whitespace in Python
        assert_eq!(python_strip("   "), "");
    }
}
