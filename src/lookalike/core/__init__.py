"""The parts a :class:`lookalike.collection.Collection` composes: change detection and the
embed run (``indexing``), the embedding pipeline (``embedding``), one vector set's search
index (``set_index``) and the cache of loaded ones (``search_indexes``), which vector set
a call means (``vector_sets``), and the default wiring (``parts``)."""
