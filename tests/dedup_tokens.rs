//! The fast tokenizer agrees with its definition (NFKC, lowercase, split) on real text in 24
//! languages (the corpus sample fixture) and on the near-duplicate slice.

use glmkit::corpus::ShardSpec;
use glmkit::dedup::input::InputSet;
use glmkit::dedup::tokens::{token_hashes, token_hashes_reference};

#[test]
fn fast_path_equals_reference_on_real_text() {
    let files = [
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/corpus/sample.jsonl.zst"
        ),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/dedup/neardup-slice.jsonl.zst"
        ),
    ];
    let inputs = InputSet::expand(&files, "text", "id").unwrap();
    let mut documents = 0;
    inputs
        .for_each_batch(ShardSpec::default(), 1 << 20, |batch| {
            for record in &batch {
                let Some(fields) = inputs.fields(record) else {
                    continue;
                };
                let (mut fast, mut reference) = (vec![], vec![]);
                token_hashes(&fields.text, &mut String::new(), |h| fast.push(h));
                token_hashes_reference(&fields.text, &mut String::new(), &mut |h| {
                    reference.push(h)
                });
                assert_eq!(fast, reference, "document {}", fields.id);
                documents += 1;
            }
            Ok(())
        })
        .unwrap();
    assert!(documents > 200, "{documents}");
}
