//! Card faces and envelope pages rendered from a layout: being written.
