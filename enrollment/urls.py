from django.urls import path

from enrollment import views

app_name = "enrollment"

urlpatterns = [
    path("enroll/server/", views.enroll_server, name="enroll_server"),
    path("enroll/client/", views.enroll_client, name="enroll_client"),
    path("enrollments/<int:pk>/", views.enrollment_detail, name="enrollment_detail"),
    path(
        "enrollments/<int:pk>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment_download",
    ),
    path("certificates/<int:pk>/revoke/", views.certificate_revoke, name="certificate_revoke"),
    path("settings/ca-accounts/", views.ca_account_list, name="ca_account_list"),
    path("pki/<int:account_id>/<str:name>", views.pki_file, name="pki_file"),
]
