//! The workshop's records (制卡车间): being written.
