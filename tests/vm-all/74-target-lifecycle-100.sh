# Test 54 (life cycles on the Rust target, two streams side by side) with 100
# cycles instead of the default tier's 40: more overlaps of one stream's port
# removal with the other's connect and I/O. About 240 s in the debug VM.
# timeout: 1500
LIFECYCLE_CYCLES=100 exec bash tests/vm/54-rust-target-lifecycle.sh
