"""dma's benchmark (``dma bench``); lives in the repository, not in the installed package."""
