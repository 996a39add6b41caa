//! Micro-benchmarks of the core's steps on the way from a callback to a
//! stored key, without network or keychain: what the flow adds on top of
//! I/O. `make bench` runs them and copies the figures into BENCHMARKS.md.

use std::sync::Mutex;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use openrouter_connect_core::fuzzing::{decode_exchange, parse_query, split_deep_link};
use openrouter_connect_core::{
    ApiKey, DataKey, DataKeyStore, Error, KeyStore, Pkce, Slot, SlotStore, StoredKey, Vault,
};
use serde_json::Value;

/// The data key in memory: the keychain's cost is measured by the flow
/// benchmark, with the real one.
#[derive(Default)]
struct Keys(Mutex<Option<DataKey>>);

impl DataKeyStore for Keys {
    fn get(&self) -> Result<Option<DataKey>, Error> {
        Ok(self.0.lock().unwrap().clone())
    }
    fn set(&self, key: &DataKey) -> Result<(), Error> {
        *self.0.lock().unwrap() = Some(key.clone());
        Ok(())
    }
    fn delete(&self) -> Result<(), Error> {
        *self.0.lock().unwrap() = None;
        Ok(())
    }
}

/// The two slots in memory, serialized as the store file would be.
#[derive(Default)]
struct Slots(Mutex<[Option<Vec<u8>>; 2]>);

impl SlotStore for Slots {
    fn read(&self, slot: Slot) -> Result<Option<Value>, Error> {
        let slots = self.0.lock().unwrap();
        Ok(slots[slot as usize]
            .as_ref()
            .map(|bytes| serde_json::from_slice(bytes).unwrap()))
    }
    fn write(&self, slot: Slot, record: &Value) -> Result<(), Error> {
        self.0.lock().unwrap()[slot as usize] = Some(serde_json::to_vec(record).unwrap());
        Ok(())
    }
    fn remove(&self, slot: Slot) -> Result<(), Error> {
        self.0.lock().unwrap()[slot as usize] = None;
        Ok(())
    }
}

fn record() -> StoredKey {
    let key = ApiKey::new(format!("sk-or-v1-{}", "0123456789abcdef".repeat(4)));
    StoredKey::new(
        key,
        Some("OpenRouter Connect on bench".into()),
        Some(5.0),
        Some("user_1".into()),
    )
}

fn steps(c: &mut Criterion) {
    c.bench_function("pkce_generate", |b| b.iter(|| Pkce::generate().unwrap()));

    let query = format!("code={}", "c".repeat(43));
    c.bench_function("callback_parse_query", |b| {
        b.iter(|| parse_query(&query).unwrap())
    });
    let link = format!(
        "io.github.openrouterconnect:/callback/{}?{query}",
        "s".repeat(43)
    );
    c.bench_function("deep_link_split", |b| {
        b.iter(|| split_deep_link(&link, "io.github.openrouterconnect:/callback").unwrap())
    });

    let answer = format!(
        "{{\"key\":\"sk-or-v1-{}\",\"user_id\":\"user_1\"}}",
        "0123456789abcdef".repeat(4)
    );
    c.bench_function("exchange_answer_decode", |b| {
        b.iter(|| decode_exchange(200, answer.as_bytes()).unwrap())
    });

    let vault = Vault::new(
        "io.github.openrouterconnect",
        Keys::default(),
        Slots::default(),
    );
    let stored = record();
    vault.save(&stored).unwrap();
    c.bench_function("vault_save", |b| b.iter(|| vault.save(&stored).unwrap()));
    c.bench_function("vault_load", |b| b.iter(|| vault.load().unwrap().unwrap()));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = steps
}
criterion_main!(benches);
