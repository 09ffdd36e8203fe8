"""Landing: type a batch, validate it (Great Expectations), de-duplicate it, and
commit it with the connector's state, quarantining what is refused."""
from cityhub.pipelines.landing.commit import Assessment, LandReport, assess, land

__all__ = ["Assessment", "LandReport", "assess", "land"]
