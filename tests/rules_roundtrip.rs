//! Printing a parsed rule and parsing it again gives the same tree.

use proptest::prelude::*;
use tropa::rules::ast::{ArithOp, BinOp, Expr, ExprKind, Selector, Statement};
use tropa::rules::{CmpOp, Span};

const KEYWORDS: &[&str] = &[
    "segment", "tag", "score", "when", "where", "and", "or", "not", "true", "false", "cap", "per",
];

fn e(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Span::default(),
    }
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,8}".prop_filter("not a keyword", |s| !KEYWORDS.contains(&s.as_str()))
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (0..100_000u32).prop_map(|n| e(ExprKind::Num(f64::from(n) / 100.0))),
        (0..10_000_000i64).prop_map(|ms| e(ExprKind::Dur(ms * 1000))),
        (0..1000i64).prop_map(|ms| e(ExprKind::Dur(ms))),
        "[ -~\\n\\t]{0,8}".prop_map(|s| e(ExprKind::Str(s))),
        any::<bool>().prop_map(|b| e(ExprKind::Bool(b))),
        ident().prop_map(|n| e(ExprKind::Name(n))),
        prop::sample::select(vec!["segment", "tag", "score"])
            .prop_map(|n| e(ExprKind::Name(n.into()))),
    ]
}

fn binop() -> impl Strategy<Value = BinOp> {
    prop_oneof![
        Just(BinOp::Or),
        Just(BinOp::And),
        prop::sample::select(vec![
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
            CmpOp::Eq,
            CmpOp::Ne
        ])
        .prop_map(BinOp::Cmp),
        prop::sample::select(vec![ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div])
            .prop_map(BinOp::Arith),
    ]
}

fn selector(inner: BoxedStrategy<Expr>, with_field: bool) -> impl Strategy<Value = Selector> {
    (ident(), prop::option::of(ident()), prop::option::of(inner)).prop_map(
        move |(kind, field, cond)| Selector {
            kind,
            kind_span: Span::default(),
            field: if with_field {
                Some((field.unwrap_or_else(|| "f".into()), Span::default()))
            } else {
                None
            },
            cond: cond.map(Box::new),
        },
    )
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 40, 3, |inner| {
        let boxed = inner.clone().boxed();
        prop_oneof![
            inner.clone().prop_map(|x| e(ExprKind::Not(Box::new(x)))),
            inner.clone().prop_map(|x| e(ExprKind::Neg(Box::new(x)))),
            (binop(), inner.clone(), inner.clone()).prop_map(|(op, a, b)| e(ExprKind::Binary(
                op,
                Box::new(a),
                Box::new(b)
            ))),
            (
                prop::sample::select(vec!["count", "sum", "since"]),
                prop::collection::vec(inner.clone(), 0..2),
                any::<bool>()
            )
                .prop_flat_map(move |(name, args, _)| {
                    selector(boxed.clone(), name == "sum").prop_map(move |sel| {
                        e(ExprKind::Call {
                            name: name.into(),
                            selector: Some(sel),
                            args: args.clone(),
                        })
                    })
                }),
            (ident(), prop::collection::vec(inner, 0..3)).prop_map(|(name, args)| {
                let name = if ["count", "sum", "since"].contains(&name.as_str()) {
                    "f".to_string()
                } else {
                    name
                };
                e(ExprKind::Call {
                    name,
                    selector: None,
                    args,
                })
            }),
        ]
    })
}

fn statement() -> impl Strategy<Value = Statement> {
    prop_oneof![
        (ident(), expr()).prop_map(|(name, expr)| Statement::Segment {
            name,
            name_span: Span::default(),
            expr
        }),
        (ident(), expr()).prop_map(|(name, expr)| Statement::Tag {
            name,
            name_span: Span::default(),
            expr
        }),
        (
            selector(expr().boxed(), false),
            -1000..1000i64,
            prop::option::of((1..100i64, expr()))
        )
            .prop_map(|(selector, points, cap)| Statement::Score {
                selector,
                points,
                points_span: Span::default(),
                cap
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_identity(stmts in prop::collection::vec(statement(), 1..5)) {
        let text = tropa::rules::print(&stmts);
        let mut parsed = tropa::rules::parse(&text)
            .unwrap_or_else(|e| panic!("printed text does not parse:\n{text}\n{e}"));
        tropa::rules::ast::strip_spans(&mut parsed);
        prop_assert_eq!(parsed, stmts, "{}", text);
    }
}

#[test]
fn the_spec_example_round_trips() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/rules/spec_example.tropa"
    ))
    .unwrap();
    let mut a = tropa::rules::parse(&src).unwrap();
    let mut b = tropa::rules::parse(&tropa::rules::print(&a)).unwrap();
    tropa::rules::ast::strip_spans(&mut a);
    tropa::rules::ast::strip_spans(&mut b);
    assert_eq!(a, b);
}
