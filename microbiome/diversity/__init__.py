"""Diversity and community statistics of a cohort's taxa table against its clinical metadata.

Every metric, the ordination and the permutation tests are scikit-bio's (0.7); this package
chooses their inputs, matches samples with the metadata, reports what it left out and why, and
writes the tidy tables and figures of ``microbiome diversity``:

- :mod:`.alpha`: per-sample alpha diversity, rarefaction (seeded, repeated, averaged) and curves;
- :mod:`.beta`: distance matrices (Bray-Curtis, Jaccard, Aitchison, UniFrac, k-mer sketches);
- :mod:`.stats`: PERMANOVA (with R2), PERMDISP, alpha diversity against metadata, and their
  restricted permutations, patient means and mixed models when patients repeat;
- :mod:`.plots`: the figures (PCoA, alpha by group, rarefaction curves);
- :mod:`.run`: the whole analysis, from files to the output folder.
"""
