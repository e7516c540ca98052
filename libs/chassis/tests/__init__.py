"""Tests of libs/chassis (helper app: ``libs.chassis.tests.plumbing_app``)."""
