//! Live lint: the engine's diagnostics, compiled prompt and chunk plan for the script being edited.

use promptbook_engine::check::{CheckOptions, CheckReport, check};
use promptbook_engine::prompt::{self, Severity};

use super::highlight::Mark;

/// One problem as the editor shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub is_error: bool,
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub span: std::ops::Range<usize>,
}

/// Everything the studio derives from one version of the script.
#[derive(Debug, Clone)]
pub struct Lint {
    pub problems: Vec<Problem>,
    pub report: CheckReport,
}

impl Lint {
    pub fn of(source: &str, opts: &CheckOptions) -> Self {
        let problems = prompt::validate(source)
            .into_iter()
            .map(|d| Problem {
                is_error: d.severity == Severity::Error,
                message: d.message,
                line: d.line,
                column: d.column,
                span: d.span,
            })
            .collect();
        Self { problems, report: check(source, opts) }
    }

    pub fn error_count(&self) -> usize {
        self.problems.iter().filter(|p| p.is_error).count()
    }

    pub fn warning_count(&self) -> usize {
        self.problems.len() - self.error_count()
    }

    pub fn marks(&self) -> Vec<Mark> {
        self.problems.iter().map(|p| Mark { range: p.span.clone(), is_error: p.is_error }).collect()
    }
}
