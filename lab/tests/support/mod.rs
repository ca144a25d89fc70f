//! What the lab's integration test files share: the private PostgreSQL server (`pg`) and the
//! worker processes they start and kill (`child`).

// Each test file uses a part of it.
#![allow(dead_code)]

pub mod child;
pub mod find_pg;
pub mod pg;
