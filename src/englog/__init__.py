"""englog: a work-activity log whose AI insights and weekly reports are produced by
resilient, distributed workers."""

__version__ = "0.1.0"
