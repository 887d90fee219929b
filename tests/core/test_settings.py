import pytest

from core.settings import Settings


def test_environment_overrides_defaults_and_keywords_override_environment():
    env = {"SLOPE_DETECTOR_CONF": "0.4", "SLOPE_DETECTOR_IMGSZ": "640", "DATABASE_URL": "postgresql://x/y"}
    settings = Settings.from_env(env)
    assert settings.detector_conf == 0.4
    assert settings.detector_imgsz == 640
    assert settings.database_url == "postgresql://x/y"
    assert Settings.from_env(env, detector_conf=0.7).detector_conf == 0.7


def test_detector_image_size_comes_from_the_card_unless_set():
    assert Settings.from_env({}).detector_imgsz == 0  # 0: the detector's card decides


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SLOPE_DETECTOR_CONF": "high"}, "SLOPE_DETECTOR_CONF='high' is not a valid float"),
        ({"SLOPE_DETECTOR_CONF": "1.5"}, "detector_conf must be in"),
        ({"SLOPE_DETECTOR_IMGSZ": "300"}, "multiple of 32"),
    ],
)
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_flags_read_words_and_refuse_others():
    assert Settings.from_env({"SLOPE_DEMO_MODE": "yes"}).demo_mode is True
    assert Settings.from_env({"SLOPE_DEMO_MODE": "0"}).demo_mode is False
    with pytest.raises(ValueError, match="SLOPE_DEMO_MODE='maybe' is not a valid true or false"):
        Settings.from_env({"SLOPE_DEMO_MODE": "maybe"})


def test_a_survey_zip_may_exceed_a_photo_except_in_the_public_demo():
    assert Settings(max_upload_bytes=100, max_archive_bytes=5000).largest_upload == 5000
    assert Settings(max_upload_bytes=100, max_archive_bytes=5000, demo_mode=True).largest_upload == 100
