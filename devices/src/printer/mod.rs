//! Card printers (制卡机): being written.
