//! Integration tests: a real ferry server in-process (or the `ferry`
//! binary), driven over TCP by line-level clients. Each file covers one
//! feature; assertions are on the exact lines a user sees.

mod accounts;
mod admin;
mod bench;
mod binary;
mod channel_modes;
mod channels;
mod chanserv;
mod charsets;
mod chat;
mod cluster;
mod devices;
mod durability;
mod export;
mod friends;
mod history;
mod hostile;
mod lifecycle;
mod limits;
mod messaging;
mod metadata;
mod multiline;
mod offline;
mod oper;
mod operations;
mod postgres;
mod queries;
mod redact;
mod registration;
mod rename;
mod replay;
mod scale;
mod send;
mod slow_reader;
mod tls;
mod tutorial;
mod util;
mod web;
mod websocket;
mod wire;
