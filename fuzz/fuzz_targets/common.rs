//! Shared by the file-reading fuzz targets: turning fuzz input into a file.

/// Input bytes as record payloads: each a little-endian `u16` length, then that many bytes
/// (the last one takes what is left).
pub fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = u16::from_le_bytes([data[0], data[1]]) as usize;
        let rest = &data[2..];
        let take = len.min(rest.len());
        out.push(&rest[..take]);
        data = &rest[take..];
    }
    out
}

/// The file a fuzz input stands for: its first byte even, the rest raw (damaged framing,
/// bad checksums); odd, the rest as records framed with good checksums (damaged contents).
pub fn file(data: &[u8], snapshot: bool) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    Some(if mode & 1 == 0 {
        rest.to_vec()
    } else {
        tropa::fuzzing::frame_file(snapshot, &split(rest))
    })
}
