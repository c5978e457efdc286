"""Linking taxa, metabolites and clinical metadata: join, transforms, associations,
microbe-metabolite correlations and responder biomarker models (``microbiome integrate``)."""
