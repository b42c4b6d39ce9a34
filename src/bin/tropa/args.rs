//! A small argument reader: `--name value` options, positionals, and an error for anything
//! left over.

use std::str::FromStr;

/// An unusable command line, with the reason.
#[derive(Debug)]
pub(crate) struct ArgError(pub(crate) String);

#[derive(Default)]
pub(crate) struct Args {
    rest: Vec<String>,
}

impl Args {
    pub(crate) fn new(args: &[String]) -> Args {
        Args {
            rest: args.to_vec(),
        }
    }

    /// Takes a flag without a value.
    pub(crate) fn flag(&mut self, name: &str) -> bool {
        match self.rest.iter().position(|a| a == name) {
            Some(i) => {
                self.rest.remove(i);
                true
            }
            None => false,
        }
    }

    /// Takes `--name VALUE` (or `--name=VALUE`).
    pub(crate) fn value(&mut self, name: &str) -> Result<Option<String>, ArgError> {
        let prefix = format!("{name}=");
        if let Some(i) = self.rest.iter().position(|a| a.starts_with(&prefix)) {
            let a = self.rest.remove(i);
            return Ok(Some(a[prefix.len()..].to_owned()));
        }
        let Some(i) = self.rest.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if i + 1 >= self.rest.len() {
            return Err(ArgError(format!("{name} needs a value")));
        }
        let v = self.rest.remove(i + 1);
        self.rest.remove(i);
        Ok(Some(v))
    }

    pub(crate) fn num<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, ArgError> {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ArgError(format!("{name}: {v:?} is not a valid number"))),
        }
    }

    pub(crate) fn required_num<T: FromStr>(&mut self, name: &str) -> Result<T, ArgError> {
        self.num(name)?
            .ok_or_else(|| ArgError(format!("{name} is required")))
    }

    /// Takes the next positional argument.
    pub(crate) fn positional(&mut self, what: &str) -> Result<String, ArgError> {
        match self
            .rest
            .iter()
            .position(|a| !a.starts_with("--") || a == "-")
        {
            Some(i) => Ok(self.rest.remove(i)),
            None => Err(ArgError(format!("{what} is required"))),
        }
    }

    /// Fails on anything not taken.
    pub(crate) fn finish(self) -> Result<(), ArgError> {
        match self.rest.first() {
            None => Ok(()),
            Some(a) => Err(ArgError(format!("unexpected argument {a:?}"))),
        }
    }
}
