//! Where the checks of one giant value put what does not fit the memory
//! budget: the member fingerprints of a collection too big to remember
//! ([`SpillStore`], see `members`), and an LZF-compressed blob too big to
//! inflate on the heap ([`SpillBuffer`]). The verifier knows nothing of
//! files: the caller says where, through `Options::spill` (the command
//! line gives unlinked temporary files, `crate::source::spill_store` and
//! `crate::source::spill_buffer`). Without it, or when it fails, the
//! budget holds by other means: more walks of the value, or exit status
//! 2 for a blob.

/// Member fingerprints, appended to 256 partitions and read back one
/// partition at a time.
pub trait SpillStore: Send {
    /// Appends `fingerprints` to partition `part` (below 256).
    fn append(&mut self, part: usize, fingerprints: &[u128]) -> std::io::Result<()>;
    /// Hands partition `part` back to `each`, in pieces, in the order
    /// appended.
    fn read(&mut self, part: usize, each: &mut dyn FnMut(&[u128])) -> std::io::Result<()>;
}

/// Makes a new, empty [`SpillStore`] for one value.
pub type SpillFactory = fn() -> std::io::Result<Box<dyn SpillStore>>;

/// Bytes outside the heap (a mapped temporary file) to inflate one blob
/// into.
pub trait SpillBuffer: std::ops::DerefMut<Target = [u8]> + Send {}

impl<T: std::ops::DerefMut<Target = [u8]> + Send> SpillBuffer for T {}

/// Makes a zeroed [`SpillBuffer`] of the given length.
pub type BufferFactory = fn(usize) -> std::io::Result<Box<dyn SpillBuffer>>;

/// Both, as `Options::spill` carries them.
#[derive(Debug, Clone, Copy)]
pub struct SpillTo {
    pub members: SpillFactory,
    pub blobs: BufferFactory,
}
