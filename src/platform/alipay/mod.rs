//! The Alipay Open Platform (v2 gateway) client pieces; for now the RSA2 request signing and response
//! verification of spec/alipay.md §1.3–1.5.

pub mod sign;
pub mod types;
