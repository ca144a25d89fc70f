//! PostgreSQL store (many workers).
pub struct PgStore;
impl PgStore {
    pub fn connect(url: &str) -> crate::Result<PgStore> {
        let _ = url;
        unimplemented!("store helper")
    }
}
impl crate::Store for PgStore {
    fn describe(&self) -> String {
        unimplemented!()
    }
    fn open_study(&self, _: &str, _: &str) -> crate::Result<()> {
        unimplemented!()
    }
    fn enqueue(&self, _: &str, _: &[crate::RunSpec]) -> crate::Result<usize> {
        unimplemented!()
    }
    fn recover(&self, _: &str) -> crate::Result<usize> {
        unimplemented!()
    }
    fn claim(&self, _: &str, _: &str) -> crate::Result<Option<Box<dyn crate::Claim>>> {
        unimplemented!()
    }
    fn runs(&self, _: &str) -> crate::Result<Vec<crate::RunRecord>> {
        unimplemented!()
    }
    fn counts(&self, _: &str) -> crate::Result<crate::Counts> {
        unimplemented!()
    }
}
