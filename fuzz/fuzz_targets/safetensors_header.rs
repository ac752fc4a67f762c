//! safetensors header parsing on arbitrary bytes: errors are fine, panics are not, and an accepted
//! header must describe tensors that tile the data section exactly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use promptbook_models::weights::parse_file_header;

fuzz_target!(|data: &[u8]| {
    // Half the inputs get a length prefix that matches, so the JSON parser and the checks get exercised.
    let mut bytes = data.to_vec();
    if data.first().is_some_and(|b| b & 1 == 0) && bytes.len() > 9 {
        let split = 8 + usize::from(data[1]).min(bytes.len() - 8);
        let header_len = (split - 8) as u64;
        bytes[..8].copy_from_slice(&header_len.to_le_bytes());
    }
    if let Ok(header) = parse_file_header(&bytes) {
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let data_len = bytes.len() - 8 - header_len;
        let mut ranges: Vec<(usize, usize)> = header.tensors.values().map(|t| t.data_offsets).collect();
        ranges.sort_unstable();
        let mut at = 0;
        for (start, end) in ranges {
            assert_eq!(start, at);
            at = end;
        }
        assert_eq!(at, data_len);
    }
});
