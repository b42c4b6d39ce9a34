//! Any text as a rules file: parsing and checking never panic or hang; a file that parses
//! prints back to text that parses to the same tree; a plan prints.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match tropa::rules::compile(src) {
        Ok(plan) => {
            let _ = plan.to_string();
        }
        Err(errors) => assert!(!errors.0.is_empty()),
    }
    if let Ok(mut stmts) = tropa::rules::parse(src) {
        let printed = tropa::rules::print(&stmts);
        let mut again = tropa::rules::parse(&printed).expect("printed rules parse");
        tropa::rules::ast::strip_spans(&mut stmts);
        tropa::rules::ast::strip_spans(&mut again);
        assert_eq!(stmts, again, "{printed}");
    }
});
