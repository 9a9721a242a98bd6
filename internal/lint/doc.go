// Package lint holds tests that keep the repository's GitHub Actions files
// honest: actionlint over the project's workflows and the examples users
// copy, and the container action and its host variant declaring the same
// inputs and outputs. It has no code of its own.
package lint
