//! (being written)
pub struct FixPlan;
pub enum FixMode {}
pub enum FileAction {}
pub struct FixError;
pub fn plan_fix() {}
