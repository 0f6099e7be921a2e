// Package compattest proves that existing clients work against tokend
// unchanged. It is its own module so that heavy clients stay out of the
// product's go.mod.
package compattest
