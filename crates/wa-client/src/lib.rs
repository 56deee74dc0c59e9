#![doc = include_str!("../README.md")]

pub mod legacy;
pub mod md;
