//! The sliding window a stream is verified through: bytes read from the
//! input and not yet done with. It lives on the heap up to a size; a
//! record larger than that (one giant value) moves it into an unlinked
//! temporary file mapped into memory, so its pages are the kernel's page
//! cache, not the heap, and the heap stays bounded however big one value
//! is. Once the window is small again it moves back to the heap.

use std::fs::File;
use std::io::{self, Read};

/// Bytes read from the input at a time.
const CHUNK: usize = 64 << 10;

/// A stream's window of bytes.
pub struct Window {
    heap: Vec<u8>,
    spill: Option<Spill>,
    /// The most bytes held on the heap.
    heap_limit: usize,
}

/// The window, once it outgrew the heap.
struct Spill {
    file: File,
    map: memmap2::MmapMut,
    /// Bytes of `map` in use, from its start.
    len: usize,
}

/// How a [`Window::fill`] ended.
#[derive(Debug)]
pub enum Filled {
    /// The window holds the capacity asked for.
    Full,
    /// The input ended (or failed: the error is kept by the caller).
    InputEnded(Option<io::Error>),
}

impl Window {
    /// An empty window that keeps at most `heap_limit` bytes on the heap.
    pub fn new(heap_limit: usize) -> Window {
        Window {
            heap: Vec::new(),
            spill: None,
            heap_limit,
        }
    }

    /// The bytes held, oldest first.
    pub fn bytes(&self) -> &[u8] {
        match &self.spill {
            Some(s) => s.map.get(..s.len).unwrap_or(&[]),
            None => &self.heap,
        }
    }

    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the window lives in a temporary file now.
    pub fn is_spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// Forgets the first `n` bytes (all of them when fewer are held).
    pub fn consume(&mut self, n: usize) {
        match &mut self.spill {
            None => {
                self.heap.drain(..n.min(self.heap.len()));
            }
            Some(s) => {
                let n = n.min(s.len);
                s.map.copy_within(n..s.len, 0);
                s.len -= n;
                if s.len <= self.heap_limit {
                    // Small again: back to the heap, and the file goes.
                    self.heap = s.map.get(..s.len).unwrap_or(&[]).to_vec();
                    self.spill = None;
                }
            }
        }
    }

    /// Reads from `input` until the window holds `capacity` bytes or the
    /// input ends. Err is a failure of the temporary file (disk full), not
    /// of the input.
    pub fn fill(&mut self, input: &mut dyn Read, capacity: usize) -> io::Result<Filled> {
        if capacity > self.heap_limit && self.spill.is_none() {
            self.spill_to_file()?;
        }
        if let Some(s) = &mut self.spill
            && s.map.len() < capacity
        {
            s.file.set_len(capacity as u64)?;
            s.map = map_file(&s.file)?;
        }
        let mut chunk = [0u8; CHUNK];
        while self.len() < capacity {
            let want = (capacity - self.len()).min(CHUNK);
            let read = match &mut self.spill {
                Some(s) => {
                    let end = s.len + want;
                    input.read(s.map.get_mut(s.len..end).unwrap_or(&mut []))
                }
                None => input.read(chunk.get_mut(..want).unwrap_or(&mut [])),
            };
            match read {
                Ok(0) => return Ok(Filled::InputEnded(None)),
                Ok(n) => match &mut self.spill {
                    Some(s) => s.len += n,
                    None => self.heap.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Ok(Filled::InputEnded(Some(e))),
            }
        }
        Ok(Filled::Full)
    }

    /// Moves the heap's bytes into a new unlinked temporary file.
    fn spill_to_file(&mut self) -> io::Result<()> {
        let file = tempfile::tempfile()?;
        file.set_len(self.heap.len().max(1) as u64)?;
        let mut map = map_file(&file)?;
        if let Some(dst) = map.get_mut(..self.heap.len()) {
            dst.copy_from_slice(&self.heap);
        }
        self.spill = Some(Spill {
            file,
            map,
            len: self.heap.len(),
        });
        self.heap = Vec::new();
        Ok(())
    }
}

fn map_file(file: &File) -> io::Result<memmap2::MmapMut> {
    // SAFETY: the file is an unlinked temporary file that only this
    // process has (no other can truncate it under the map), and the map
    // is only reached through `Window`, which never lets a byte beyond
    // the file's length be touched.
    unsafe { memmap2::MmapOptions::new().map_mut(file) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `data` through a window of at most `heap` heap bytes, asking
    /// for `capacity` at a time and consuming `step` after each fill; the
    /// bytes seen are the input's, in order, whether spilled or not.
    fn read_through(data: &[u8], heap: usize, capacity: usize, step: usize) -> (Vec<u8>, bool) {
        let mut input = data;
        let mut w = Window::new(heap);
        let mut seen = Vec::new();
        let mut spilled = false;
        loop {
            let ended = matches!(w.fill(&mut input, capacity).unwrap(), Filled::InputEnded(_));
            spilled |= w.is_spilled();
            let take = if ended { w.len() } else { step.min(w.len()) };
            seen.extend_from_slice(&w.bytes()[..take]);
            w.consume(take);
            if ended && w.is_empty() {
                return (seen, spilled);
            }
        }
    }

    #[test]
    fn bytes_come_out_in_order_on_the_heap_and_spilled() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let (seen, spilled) = read_through(&data, 1 << 20, 100_000, 33_333);
        assert!(seen == data && !spilled);
        let (seen, spilled) = read_through(&data, 50_000, 100_000, 33_333);
        assert!(seen == data && spilled);
        // Growing while spilled, then back to the heap.
        let mut input = &data[..];
        let mut w = Window::new(10_000);
        assert!(matches!(w.fill(&mut input, 5_000).unwrap(), Filled::Full));
        assert!(!w.is_spilled());
        for capacity in [20_000, 80_000, 250_000] {
            assert!(matches!(
                w.fill(&mut input, capacity).unwrap(),
                Filled::Full
            ));
            assert!(w.is_spilled());
            assert!(w.bytes() == &data[..capacity]);
        }
        w.consume(245_000);
        assert!(!w.is_spilled(), "5000 bytes left fit the heap again");
        assert!(w.bytes() == &data[245_000..250_000]);
        assert!(matches!(
            w.fill(&mut input, 1 << 20).unwrap(),
            Filled::InputEnded(None)
        ));
        assert!(w.bytes() == &data[245_000..]);
    }

    #[test]
    fn a_read_error_ends_the_input_and_is_handed_back() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("broken archive"))
            }
        }
        let mut w = Window::new(16);
        match w.fill(&mut Failing, 64).unwrap() {
            Filled::InputEnded(Some(e)) => assert_eq!(e.to_string(), "broken archive"),
            other => panic!("{other:?}"),
        }
    }
}
