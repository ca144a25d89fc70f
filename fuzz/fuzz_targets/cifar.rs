//! CIFAR-10 binary batches: whole records of a label byte and 3,072 pixel bytes, made into a
//! dataset as `cifar::read_dataset` does.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = data::cifar::parse(data, "fuzz.bin") {
        data::Dataset::new(
            "fuzz",
            b.x,
            vec![3, 32, 32],
            data::Targets::Classes {
                labels: b.labels,
                num_classes: data::cifar::NUM_CLASSES,
            },
        )
        .expect("a parsed batch is a dataset");
    }
});
